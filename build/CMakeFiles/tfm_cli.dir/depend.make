# Empty dependencies file for tfm_cli.
# This may be replaced when dependencies are built.
