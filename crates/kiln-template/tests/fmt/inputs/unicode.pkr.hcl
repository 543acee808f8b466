locals {
  café = "naïve" # one column each
  emoji_family = "👩‍👩‍👧‍👦" # a single grapheme cluster
  combining = "ñ" # n and a combining tilde
  wide = "漢字" # two wide characters, two columns to HCL
  plain = 1 # plain
}
