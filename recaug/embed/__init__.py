"""recaug.embed"""
