"""recaug.models"""
