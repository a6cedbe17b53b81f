import os
# Tests never touch the network, and run in small (CPU) mode.
os.environ.setdefault('FTLEARN_OFFLINE', '1')
os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('TRANSFORMERS_OFFLINE', '1')
os.environ.setdefault('FTLEARN_MODE', 'small')
