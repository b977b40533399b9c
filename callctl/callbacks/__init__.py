"""Callback tasks (回访): the forbidden-hours calendar, the pure scheduler, the dialer."""
