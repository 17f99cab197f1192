"""Getting a model's files: downloads (npm packages, pinned URLs), imports of a user's file,
checks by size and sha256, and where files may live (the model directory the caller names)."""
