"""What the trial table says: each finding as numbers or frames, and the sentence that states it."""
