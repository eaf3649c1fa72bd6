"""Files in, clean typed Arrow batches out: readers, dataset files, cleaning, the pipeline."""
