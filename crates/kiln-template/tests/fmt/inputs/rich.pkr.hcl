# A template that uses most of HCL's syntax.
packer {
required_version = ">= 1.6.0"
}

variable "region" {
type = string
default = "us-east-1" // where
description = <<EOT
The region.
  Indented ${"text"}, and %{ if true }a directive%{ endif }.
EOT
}

variable "sizes" {
  type    =   map(number)
  default = {small=1,"large"   = 3
    huge   = 10 # biggest
  }
}

locals {
  names = [for k, v in var.sizes : upper(k) if v>1]
  first = local.names[0]
  both  = "${local.first}-${ var.region }"
  neg   = -1
  math  = (1+2)*3/4%5 - -6
  cmp   = 1 >= 2 || 3 <= 4 && !false
  cond  = var.region == "us-east-1" ? "east" : "west"
  obj   = { for k, v in var.sizes : k => v*2... }
  splat = [{a=1},{a=2}][*].a
  legacy = [{a=1}].0.a
  tpl   = "%{for n in local.names}${n},%{endfor}"
  esc   = "$${literal} and %%{literal}"
  quote = "a \"quoted\" word\n"
  args  = concat([1,2],[3])
  spread = max([1, 5, 3]...)
  multi = join(",", [
    "a",
    "b",
  ])
  deep = {
    a = {
      b = [
        1,
        2
      ]
    }
  }
  heredoc_in_list = [<<-EOT
    one
    EOT
  , "two"]
}

/* a block
   comment */
source "null" "one" {
  communicator = "none"
}

source   "null"   "two"{
communicator="none"
}

build {
  name = "b"
  sources = ["source.null.one",
             "source.null.two"]

  provisioner "shell-local" {
    inline = ["echo ${local.both}", "echo ${build.name}"]
    only = ["null.one"]
  }
  provisioner "shell-local" {
    inline = [
      "echo two"
    ]
    pause_before="1s"  # wait
    max_retries=2      # try again
  }
  dynamic "provisioner" {
    for_each = []
    content {}
  }
  post-processor "manifest" {}
}
