"""Reports: training curves and diagnostics tables from saved runs."""
