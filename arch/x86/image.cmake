# Placeholder until the boot path lands: the image target is defined here.
