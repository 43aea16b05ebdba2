"""Storage: run folders (a saved forecaster beside what the commands wrote about it), the
journal of forecasts issued, and signatures of state a later run will unpickle."""
