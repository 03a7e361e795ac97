# Empty dependencies file for tfm.
# This may be replaced when dependencies are built.
