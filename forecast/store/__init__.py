"""Storage: run folders (a saved forecaster beside what the commands wrote about it), the
journal of forecasts issued, and the lock that lets one command at a time write a folder."""
