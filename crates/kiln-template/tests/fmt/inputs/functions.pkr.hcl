# Written by kiln hcl2_upgrade from a legacy JSON template. Go template calls that
# plugins render ({{ .Vars }}, {{ .HTTPIP }}, {{ timestamp }}, {{ build_name }}, ...)
# are kept as they were; {{ user }} and {{ env }} became HCL2 expressions.

variable "base" {
  type    = string
  default = "web"
}

variable "derived" {
  type    = string
  default = null
}

variable "from_env" {
  type    = string
  default = "${env("KILN_TEST_VALUE")}"
}

variable "overridden" {
  type    = string
  default = "default"
}

variable "suffix" {
  type    = string
  default = "v1"
}

# Variables whose legacy defaults use other variables.
locals {
  derived = var.derived != null ? var.derived : "${var.base}-${var.suffix}"
}

source "null" "My_Build.1" {
  communicator = "none"
}

build {
  sources = ["source.null.My_Build.1"]

  provisioner "shell-local" {
    inline = ["echo 'user: ${var.base} ${local.derived} ${var.from_env} ${var.overridden} [${var.undeclared}]'", "echo 'build: {{build_name}} {{build_type}} {{ build `ID` }}'", "echo 'case: {{upper `MiXed`}} {{lower `MiXed`}} {{ `${var.base}` | upper }}'", "echo 'split: {{split `a,b,c` `,` 0}} {{split `a,b,c` `,` 2}} {{split `a--b` `--` 1}}'", "echo 'replace: {{replace `a` `b` 1 `aaa`}} {{replace `a` `b` -1 `aaa`}} {{replace_all `-` `_` `a-b-c`}} {{ `x-y` | replace_all `-` `+` }}'", "echo 'version: {{packer_version}}'", "echo 'dirs: {{template_dir}} {{pwd}}'", "echo 'logic: {{if eq (build_type) `null`}}yes{{else}}no{{end}} {{if ne 1 2}}ne{{end}} {{len `abcd`}} {{printf `%s-%d` `a` 3}} {{print 1 2}} {{print `a` `b`}}'", "echo 'nested: {{ upper (split (lower `A.B.C`) `.` 1) }} {{ (`${var.base}`) }}'", "echo 'trim: x  {{- `y` -}}  z'", "echo 'quoted: {{ \"dq\" }} {{ `raw \\\\ text` }}'", "echo 'with: {{with build_type}}[{{.}}]{{end}} {{with ``}}no{{else}}empty{{end}}'", "echo 'bool: {{and 1 0}} {{or 0 `x`}} {{not 0}} {{lt 1 2}} {{ge 2 3}} {{eq `a` `b` `a`}} {{le 2.5 3.0}} {{le 2 3}}'", "echo 'slice: {{slice `abcdef` 1 3}} {{slice `abcdef` 2}} {{index `abc` 1}}'", "echo 'escape: {{html `<a href=\"x\">&</a>`}} {{js `<x=\"1\">`}} {{urlquery `a b&c/d~`}}'", "echo 'data: [{{build `Host`}}] [{{build `PackerHTTPAddr`}}] [{{build `PackerHTTPPort`}}] [{{build `SSHPrivateKey`}}]'"]
  }
}
