"""Upload grants: a lab's service (`trajrec grants serve`) holds the store's keys and hands experts short-lived,
narrowly scoped upload rights; the uploader's grant mode uses them, so an expert's machine holds no storage keys.
"""
