# Written by kiln hcl2_upgrade from a legacy JSON template. Go template calls that
# plugins render ({{ .Vars }}, {{ .HTTPIP }}, {{ timestamp }}, {{ build_name }}, ...)
# are kept as they were; {{ user }} and {{ env }} became HCL2 expressions.

variable "aws_region" {
  type    = string
  default = "us-east-1"
}

variable "name" {
  type    = string
  default = "elasticsearch"
}

variable "source_ami" {
  type    = string
  default = "ami-af4333cf"
}

variable "version" {
  type    = string
  default = "1-0-0"
}

source "amazon-ebs" "amazon-ebs" {
  access_key    = "${env("AWS_ACCESS_KEY")}"
  ami_name      = "${var.name}-${var.version}"
  instance_type = "t2.micro"
  region        = "${var.aws_region}"
  secret_key    = "${env("AWS_SECRET_KEY")}"
  source_ami    = "${var.source_ami}"
  ssh_username  = "centos"
}

build {
  sources = ["source.amazon-ebs.amazon-ebs"]

  provisioner "shell" {
    inline = ["sudo yum install -y epel-release", "sudo yum install -y ansible"]
  }

  provisioner "ansible-local" {
    playbook_file = "bootstrap.yml"
    role_paths    = ["roles/elasticsearch", "roles/telegraf", "roles/sudo", "roles/fail2ban"]
  }

  provisioner "shell" {
    inline = ["sudo yum erase ansible -y", "sudo rm -rf /tmp/packer-provisioner-ansible-local/"]
  }
}
