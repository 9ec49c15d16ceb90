"""The heavy parts behind small interfaces: embedders, generators and stores, chosen in factory.py."""
