"""Sealing: turn a live session directory into a bundle (seal, repair), edit a sealed bundle, make synthetic ones."""
