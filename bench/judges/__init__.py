"""Judge prompts, strict answer parsing, and the offline embedded judges."""
