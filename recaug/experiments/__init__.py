"""Online experiments: champion and challenger served side by side, compared on logged events."""
