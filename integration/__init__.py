"""Integration checks of the device side on the Pi's own software (./run.sh pi-check)."""
