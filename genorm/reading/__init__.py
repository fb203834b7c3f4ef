"""Reading genome files: a path, handle or records in, validated and encoded records out (NumPy, Biopython).

``sources`` opens an input once → ``formats`` parses it with ``Bio.SeqIO`` (``in_memory`` for records
already in memory) → ``records`` validates and encodes each record.
"""
