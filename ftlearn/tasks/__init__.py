"""Tasks: one data set seen through one backbone. Importing the package registers every kind of data with `make_task`:
images (`ftlearn.tasks.core.VisionTask`) and texts (`ftlearn.tasks.text.TextTask`). Written by hand: it only imports."""
from . import core, text
