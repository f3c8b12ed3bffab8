"""sweep: parameter grids, local and Dask runners, result tables and plots."""
