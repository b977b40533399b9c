"""日报/周报/月报/年报 per service line: XLSX and HTML (with charts), on request or on schedule."""
