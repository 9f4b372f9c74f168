"""Flow 4's bundling core: match booking entries to drop-zone PDFs, name them safely, stream the zip.

- `matching`: the drop-zone index and the configurable rule that finds an entry's PDF;
- `naming`: zip entry names that are safe to extract anywhere;
- `zipstream`: the streamed zip (STORED PDFs + metadata.json) written into an S3 multipart upload.

The run itself (listing the partner's entries, the ledger, the upload) is `pipeline/bundle.py`.
"""
