"""recaug.validate"""
