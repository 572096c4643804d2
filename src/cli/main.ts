console.log('kive');
