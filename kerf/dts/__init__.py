"""The device tree language: DTS parsing and printing, DTB encoding and decoding."""
