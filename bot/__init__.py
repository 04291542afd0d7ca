"""supportbot: a Slack support bot that answers from the company's FAQ and learns from its admins."""

__version__ = "0.1.0"
