"""The clinical knowledge of rules/, loaded and checked, and the terminology parsing and reasoning share."""
