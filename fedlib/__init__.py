"""fedlib: the library behind the multilingual federated prompt-tuning companion book.

Zhao et al., "Breaking Physical and Linguistic Borders: Multilingual Federated Prompt
Tuning for Low-Resource Languages", ICLR 2024.
"""

__version__ = "0.1.0"
