"""Privacy: keyed pseudonyms, masking of personal fields, and `recaug privacy forget`."""
