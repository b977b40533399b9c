"""Lines, queues, skills, agents and overflow rendered into Asterisk config."""
