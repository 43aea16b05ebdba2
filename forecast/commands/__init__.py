"""The commands: each module is one CLI command as a plain function that returns its results
(printing is left to the caller's ``echo``, files go through ``forecast.store``)."""
