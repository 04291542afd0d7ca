"""Finding the FAQ entry that answers a question, and knowing when none does."""
