"""The genome in memory: one flat ``uint8`` array (``array``), its on-disk cache (``cache``), and the
train / validation / test intervals that cannot leak (``splits``).
"""
