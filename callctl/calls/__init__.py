"""Call control: supervisors' monitoring (listen, whisper, barge), transfers, and
callback tasks (回访) with their scheduler and dialer."""
