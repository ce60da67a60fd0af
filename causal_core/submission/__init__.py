"""Submission assembly: the loop's result -> a challenge-layout record folder (docs/submission.md)."""
