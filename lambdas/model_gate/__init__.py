"""Model gate: judges a newly registered model version against its threshold and the champion."""
