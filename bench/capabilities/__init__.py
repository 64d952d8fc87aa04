"""bench/capabilities: does a persona method cost general capability? (multiple choice, generation-based)."""
