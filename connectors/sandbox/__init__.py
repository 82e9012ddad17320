"""Local emulators of each external system's API, served over HTTP on loopback."""
