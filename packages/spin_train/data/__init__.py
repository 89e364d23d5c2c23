"""What a run trains on.

``mixture``: the config's datasets and each epoch's curriculum draws; ``filtering``: dynamic task filtering
and the gold-over-candidate pairs; ``tokens``: the token ids every training row is made of, and their check;
``lengths``: what fits the generator's context and dpo.max_length; ``rows``: a dataset folder's rows by config
and split.
"""
