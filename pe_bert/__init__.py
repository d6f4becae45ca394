"""pe_bert: swappable, measurable positional encodings for BERT-style encoders."""
