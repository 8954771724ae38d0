import os
import os.path as osp
import shutil
import sys

from setuptools import find_packages, setup

MIM_FILES = ('configs', 'tools', 'model-index.yml')


def add_mim_extension():
    """Put ``configs/``, ``tools/`` and ``model-index.yml`` under ``densepre/.mim`` so that
    OpenMMLab's ``mim`` (``mim search / train / test densepre``) finds them in the installed
    package, as OpenMMLab repositories do: symlinks for an editable install, copies for a build."""
    if 'develop' in sys.argv or 'editable_wheel' in sys.argv:
        mode = 'symlink'
    elif {'sdist', 'bdist_wheel', 'build', 'install'} & set(sys.argv):
        mode = 'copy'
    else:
        return
    repo = osp.dirname(osp.abspath(__file__))
    mim_dir = osp.join(repo, 'densepre', '.mim')
    os.makedirs(mim_dir, exist_ok=True)
    for name in MIM_FILES:
        src, dst = osp.join(repo, name), osp.join(mim_dir, name)
        if osp.islink(dst) or osp.isfile(dst):
            os.remove(dst)
        elif osp.isdir(dst):
            shutil.rmtree(dst)
        if mode == 'symlink':
            os.symlink(osp.relpath(src, mim_dir), dst)
        elif osp.isdir(src):
            shutil.copytree(src, dst)
        else:
            shutil.copyfile(src, dst)


def read_version():
    scope = {}
    with open('densepre/version.py') as f:
        exec(f.read(), scope)
    return scope['__version__']


def parse_requirements(fname):
    with open(fname) as f:
        return [
            line.split('#')[0].strip() for line in f
            if line.split('#')[0].strip()
        ]


add_mim_extension()
setup(
    name='densepre',
    version=read_version(),
    description='Dense self-supervised visual pretraining and transfer '
    '(LEWEL, CLoVE, Revisiting-Contrastive, LOCA) on OpenMMLab',
    long_description=open('README.md').read(),
    long_description_content_type='text/markdown',
    packages=find_packages(exclude=('configs', 'tools', 'tests', 'docs')),
    include_package_data=True,
    package_data={'densepre.datasets': ['meta/*.txt'], 'densepre': ['.mim/**/*']},
    python_requires='>=3.9',
    install_requires=parse_requirements('requirements/runtime.txt'),
    extras_require={
        'tests': parse_requirements('requirements/tests.txt'),
        'optional': parse_requirements('requirements/optional.txt'),
    },
    license='Apache-2.0',
    zip_safe=False,
)
