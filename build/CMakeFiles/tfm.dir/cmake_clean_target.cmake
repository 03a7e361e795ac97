file(REMOVE_RECURSE
  "libtfm.a"
)
