"""Question -> evidence -> prompt -> streamed answer -> verified citations; the Assistant runs these steps."""
