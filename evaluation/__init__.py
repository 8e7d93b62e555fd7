"""Measuring, host side: caption metrics, CHAIR, reading accuracy, rendered text scenes, spoken answers."""
