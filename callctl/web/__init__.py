"""The pages callctl serves itself (static HTML/JS/CSS shipped in the package)."""
