region = "eu-west-1"
sizes = {a=1}
x = <<EOT
line
EOT
